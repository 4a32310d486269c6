#!/bin/sh
# Rotate the project's bundle signing key: a new key, every shipped bundle re-signed with it, and its
# public key installed as the one the package trusts (edge_runtime/keys/project.pub).
#
#   deploy/rotate-signing-key.sh /work/keys/project-signing.key
#
# The private key never enters the repository. An existing key at that path is kept, renamed
# KEY.retired-<UTC time> (destroy it once no unrotated gateway needs it). Gateways that run this
# package trust the new key on upgrade; bundles signed with the old key are refused by them unless
# an operator still trusts the old public key (--trust, the keys folder, trust.keys).
set -eu
KEY=${1:?usage: deploy/rotate-signing-key.sh PRIVATE_KEY_PATH (kept outside the repository)}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
RUN="python3 -m edge_runtime.cli"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
case "$(cd "$(dirname "$KEY")" 2>/dev/null && pwd)/" in
  "$ROOT"/*) echo "refusing: $KEY is inside the repository" >&2; exit 2 ;;
esac
PUB="${KEY%.*}.pub"
if [ -e "$KEY" ]; then
  STAMP=$(date -u +%Y%m%dT%H%M%SZ)
  mv "$KEY" "$KEY.retired-$STAMP"
  [ -e "$PUB" ] && mv "$PUB" "$PUB.retired-$STAMP"
fi
$RUN keygen --out "$KEY"
$RUN sign edge_runtime/bundles/*/ --key "$KEY"
cp "$PUB" edge_runtime/keys/project.pub
for b in edge_runtime/bundles/*/; do
  $RUN inspect "$b" | sed -n '1p;3p'   # verifies against the newly installed public key
done
echo "now commit edge_runtime/keys/project.pub and edge_runtime/bundles/*/manifest.sig"
