#!/usr/bin/env bash
# ARM verification by emulation: the edge install of this working tree on Debian bookworm arm64 and
# armhf roots run by qemu-user-static (docs/arm.md).
#
#   deploy/arm/verify.sh [--arch arm64|armhf|all] [--cached-only | --build-only] [--quick] [--cache DIR]
#
# Builds (once; cached under $EDGE_RUNTIME_ARM_CACHE, default ~/.cache/edge-runtime/arm) a minbase
# root per architecture with a venv holding the interpreter wheels, then on every run installs the
# working tree into it (`pip install .`: the architecture's own dependencies come from pyproject's
# environment markers) and runs inside the root: the edge test subset, `edge-runtime transform` on a
# shipped MotionSense clip compared with an x86 run of the same bundle made now, `inspect`, and
# `benchmark --quick` (emulated: its timings are not a board's). --cached-only skips an architecture
# whose root is not built yet (CI on a cold machine) instead of building it; --build-only builds the
# roots and stops; --quick (CI) runs the interpreter and bundle tests instead of the whole edge subset,
# and skips the benchmark (each is many minutes under emulation on two cores).
# Needs root (debootstrap, chroot, binfmt_misc). Exit 0: every requested architecture passed or was
# skipped with a printed reason; 1: a check failed; 2: usage or host setup failed.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${EDGE_RUNTIME_ARM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-runtime/arm}
ARCHES=(arm64 armhf)
CACHED_ONLY=0
BUILD_ONLY=0
QUICK=0
BUNDLE=motionsense-gender
CLIP=edge_runtime/clips/subject_5.csv
# the edge tests: everything that needs neither TensorFlow nor the BLE stack (bumble, bleak)
# Found by this check and not fixed yet, run separately so they are reported on every run without
# failing it (delete an entry when its cause is fixed):
#   aarch64: the mag2 features' float32 matmul (numpy's OpenBLAS) rounds 95 of 1,800 values one ulp
#   (2.4e-7) differently for one-row and many-row pushes, so records depend on how samples were batched.
KNOWN_ARM64=(tests/test_engine.py::test_batching_never_changes_the_records)
#   aarch64: LiteRT's aarch64 kernels (with or without XNNPACK) decide one of the 22 windows of the clip
#   the other way from x86 (a near-tie of the shipped bundle's activity classifier: it emits another stored
#   window); the 21 others match x86 within one int8 step. Counted and printed by parity.py.
KNOWN_DECIDED_DIFFERENTLY_ARM64=1
# Too slow under qemu for a fixed deadline (not a finding about ARM): the kill -9 spool test waits at most
# 30 s for its writer's first 300 records; emulated it gets 150-210. Deselected and said so.
TOO_SLOW_EMULATED=("tests/test_spool.py::test_kill_9_loses_no_spooled_record")
# (test_ed25519: the signature check through the interpreter's libcrypto and ctypes, which differs per ABI)
QUICK_TESTS=(tests/test_interpreter.py tests/test_bundle.py tests/test_ed25519.py tests/test_signing.py)
EDGE_TESTS=(tests/test_bundle.py tests/test_engine.py tests/test_interpreter.py tests/test_resample.py
            tests/test_windows.py tests/test_spool.py tests/test_fb_protocol.py tests/test_fb_recording.py
            tests/test_transform_cmd.py tests/test_ed25519.py tests/test_signing.py)  # (the import contract reads source files: nothing to learn under qemu)

while [ $# -gt 0 ]; do
    case "$1" in
        --arch) shift; case "${1:-}" in all) ARCHES=(arm64 armhf) ;; arm64|armhf) ARCHES=("$1") ;;
                    *) echo "verify.sh: --arch takes arm64, armhf or all" >&2; exit 2 ;; esac ;;
        --cached-only) CACHED_ONLY=1 ;;
        --build-only) BUILD_ONLY=1 ;;
        --quick) QUICK=1 ;;
        --cache) shift; CACHE=${1:?--cache needs a folder} ;;
        -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "verify.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

say() { printf '[arm %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { say "error: $*" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, binfmt_misc)"
[ "$(uname -m)" = x86_64 ] || die "runs on an x86-64 host (it compares ARM against this machine's x86 output)"

# ------------------------------------------------------------------------------ host: qemu, binfmt
host_setup() {
    local need=()
    command -v debootstrap >/dev/null || need+=(debootstrap)
    command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
    command -v update-binfmts >/dev/null || need+=(binfmt-support)
    if [ ${#need[@]} -gt 0 ]; then
        say "installing ${need[*]}"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null) \
            || die "could not install ${need[*]}"
    fi
    if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null \
            || die "cannot mount binfmt_misc (a container without it cannot run foreign binaries)"
    fi
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
    update-binfmts --enable qemu-arm >/dev/null 2>&1 || true
}

mirror() {  # the Debian mirror this host's apt uses
    local uri
    uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1 || true)
    [ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -1 || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

qemu_for() { case "$1" in arm64) echo qemu-aarch64 ;; armhf) echo qemu-arm ;; esac; }

# --------------------------------------------------------------------------------- chroot plumbing
MOUNTED=()
mount_root() {  # /proc and /dev only: with /sys mounted LiteRT's CPU detection segfaults under qemu
    local root=$1 m
    for m in proc dev dev/pts; do
        mountpoint -q "$root/$m" && continue
        case "$m" in
            proc) mount -t proc proc "$root/proc" ;;
            dev) mount --bind /dev "$root/dev" ;;
            dev/pts) mount --bind /dev/pts "$root/dev/pts" ;;
        esac
        MOUNTED=("$root/$m" "${MOUNTED[@]}")
    done
}
unmount_all() {
    local m
    for m in "${MOUNTED[@]}"; do umount -l "$m" 2>/dev/null || true; done
    MOUNTED=()
}
trap unmount_all EXIT

in_root() {  # run a command in the root with a clean environment (the host's pip settings point at host paths)
    local root=$1; shift
    env -i PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        LANG=C.UTF-8 PIP_CONFIG_FILE=/etc/pip.conf PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 \
        PYTHONDONTWRITEBYTECODE=1 MOTIONSENSE_DIR=/nonexistent HYPOTHESIS_STORAGE_DIRECTORY=/tmp/hypothesis \
        EDGE_RUNTIME_EMULATED="qemu-user-static $(basename "$(dirname "$root")") on $(uname -m)" \
        chroot "$root" "$@"
}

# ---------------------------------------------------------------------------------- stage 1: root
root_packages() {
    local include=python3,python3-venv,python3-pip,ca-certificates
    # armhf: no armv7 numpy wheels on PyPI; cryptography is not required on armv7l (no cffi wheel there), the
    # tests sign their bundles with Debian's, as one signs on a 32-bit Pi (docs/arm.md); debootstrap resolves no
    # virtual packages, so python3-cffi-backend (which provides cryptography's python3-cffi-backend-api-*) is named
    [ "$1" = armhf ] && include=$include,python3-numpy,python3-cryptography,python3-cffi-backend
    echo "$include"
}
add_packages() {  # a cached root built before a package joined its list gets it with apt, not a new debootstrap
    local arch=$1 dir=$CACHE/$1 include=$2 missing
    mount_root "$dir/root"
    missing=$(in_root "$dir/root" sh -c "for p in ${include//,/ }; do dpkg -s \$p >/dev/null 2>&1 || echo \$p; done" | xargs)
    if [ -n "$missing" ]; then
        say "$arch: adding $missing to the cached root (apt under emulation: a minute or two)"
        in_root "$dir/root" sh -c "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && \
            apt-get install -y -qq --no-install-recommends $missing && apt-get clean" >"$dir/apt.log" 2>&1 \
            || { tail -20 "$dir/apt.log" >&2; die "$arch: apt-get install $missing failed (log: $dir/apt.log)"; }
    fi
    unmount_all
    echo "$include" >"$dir/root.ok"
}
build_root() {
    local arch=$1 dir=$CACHE/$1 include
    include=$(root_packages "$arch")
    if [ -e "$dir/root.ok" ]; then
        [ "$(cat "$dir/root.ok")" = "$include" ] || add_packages "$arch" "$include"
        return 0
    fi
    say "$arch: debootstrap bookworm ($include) from $(mirror) (a few minutes)"
    rm -rf "$dir/root"
    mkdir -p "$dir"
    debootstrap --arch="$arch" --variant=minbase --include="$include" bookworm "$dir/root" "$(mirror)" \
        >"$dir/debootstrap.log" 2>&1 || { tail -20 "$dir/debootstrap.log" >&2; die "$arch: debootstrap failed (log: $dir/debootstrap.log)"; }
    echo "$include" >"$dir/root.ok"
}

# ------------------------------------------------------------------------ stage 2: venv and wheels
deps_spec() {  # what the venv holds before the project: the interpreter wheel and the build/test tools
    case "$1" in
        arm64) echo "--system-site-packages=no numpy ai-edge-litert setuptools>=68 wheel pytest hypothesis pytest-timeout" ;;
        armhf) echo "--system-site-packages=yes tflite-runtime==2.14.0 setuptools>=68 wheel pytest hypothesis pytest-timeout" ;;
    esac
}
build_venv() {
    local arch=$1 root=$CACHE/$1/root spec key
    spec=$(deps_spec "$arch")
    key=$(echo "$spec" | sha256sum | cut -c1-16)
    [ "$(cat "$CACHE/$arch/venv.ok" 2>/dev/null)" = "$key" ] && return 0
    say "$arch: venv with ${spec#* } (pip under emulation: minutes)"
    # pip inside the root: the host's CA bundle, plain PyPI (the host's file:// indexes do not exist there)
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/pip-ca.crt"
    printf '[global]\ncert = /etc/pip-ca.crt\nindex-url = https://pypi.org/simple\n' >"$root/etc/pip.conf"
    rm -rf "$root/opt/venv"
    local site=()
    [ "${spec%% *}" = "--system-site-packages=yes" ] && site=(--system-site-packages)
    mount_root "$root"
    in_root "$root" /usr/bin/python3 -m venv "${site[@]}" /opt/venv
    # shellcheck disable=SC2086
    in_root "$root" /opt/venv/bin/pip install -q ${spec#* } >"$CACHE/$arch/pip.log" 2>&1 \
        || { tail -20 "$CACHE/$arch/pip.log" >&2; die "$arch: pip install failed (log: $CACHE/$arch/pip.log)"; }
    unmount_all
    echo "$key" >"$CACHE/$arch/venv.ok"
}

# ----------------------------------------------------------- stage 3: this working tree, installed
tree_hash() {  # tracked and untracked-but-not-ignored files, content included
    (cd "$REPO" && git ls-files -co --exclude-standard -z | sort -z | xargs -0 sha256sum 2>/dev/null | sha256sum | cut -c1-16)
}
install_tree() {
    local arch=$1 root=$CACHE/$1/root key
    key=$(tree_hash)
    if [ "$(cat "$CACHE/$arch/tree.ok" 2>/dev/null)" = "$key" ]; then
        say "$arch: working tree $key already installed"
        return 0
    fi
    say "$arch: pip install the working tree's wheel ($key; no TensorFlow)"
    rm -rf "$root/src" "$root/tmp/wheel" && mkdir -p "$root/src" "$root/tmp/wheel"
    (cd "$REPO" && git ls-files -co --exclude-standard -z | xargs -0 tar -c --no-recursion 2>/dev/null) | tar -x -C "$root/src"
    # the wheel is pure Python (py3-none-any), so it is built natively here, from the copy in the root, and
    # only installed under qemu: pip evaluates its per-architecture requirements (environment markers) there
    python3 -m pip wheel -q --no-deps --no-build-isolation -w "$root/tmp/wheel" "$root/src" >"$CACHE/$arch/install.log" 2>&1 \
        || { tail -20 "$CACHE/$arch/install.log" >&2; say "$arch: FAIL building the wheel"; return 1; }
    rm -rf "$root/src/build" "$root/src"/*.egg-info
    # the first install into a root resolves the requirements (the markers pick the interpreter); later ones
    # replace just the package (one pip start under qemu is most of a minute). --no-compile: byte-compiling
    # every module under qemu costs more than it saves in one run
    # ...unless the declared dependencies changed since (a new requirement must be resolved in the root too)
    local deps
    deps=$(python3 -c "import tomllib; print(tomllib.load(open('$REPO/pyproject.toml', 'rb'))['project']['dependencies'])" | sha256sum | cut -c1-16)
    # (a plain install of the wheel resolves them, but leaves an installed package of the same version in place:
    # so it is followed by the package-only reinstall every run does)
    if ! { [ -e "$CACHE/$arch/tree.ok" ] && [ "$(cat "$CACHE/$arch/deps.ok" 2>/dev/null)" = "$deps" ]; }; then
        say "$arch: the declared dependencies changed: resolving them in the root"
        in_root "$root" sh -c "/opt/venv/bin/pip install -q --no-compile /tmp/wheel/*.whl" >>"$CACHE/$arch/install.log" 2>&1 \
            || { tail -20 "$CACHE/$arch/install.log" >&2; say "$arch: FAIL pip install (dependencies)"; return 1; }
    fi
    in_root "$root" sh -c "/opt/venv/bin/pip install -q --no-compile --no-deps --force-reinstall /tmp/wheel/*.whl" \
        >>"$CACHE/$arch/install.log" 2>&1 || { tail -20 "$CACHE/$arch/install.log" >&2; say "$arch: FAIL pip install"; return 1; }
    echo "$key" >"$CACHE/$arch/tree.ok"
    echo "$deps" >"$CACHE/$arch/deps.ok"
}

# ---------------------------------------------------------------------------- stage 4: the checks
x86_reference() {  # the same bundle and clip on this machine, made now (bundles change; numbers are not committed)
    (cd "$REPO" && PYTHONPATH=$REPO python3 -m edge_runtime.cli transform --bundle "$BUNDLE" --input "$CLIP" \
        --output "$CACHE/$1/x86-transform.csv" --force --quiet) 2>&1 | grep -v '^INFO' | sed 's/^/  x86: /'
}

check_arch() {
    local arch=$1 root=$CACHE/$1/root rc=0 t0
    mount_root "$root"
    install_tree "$arch" || { unmount_all; return 1; }
    in_root "$root" /opt/venv/bin/python -c 'import importlib.metadata as md, platform, sys, numpy
from edge_runtime import ed25519
from edge_runtime.interpreter import load_backend
try: crypto = "cryptography " + md.version("cryptography")
except md.PackageNotFoundError: crypto = "no cryptography"
print(f"  {platform.machine()} python {sys.version.split()[0]} numpy {numpy.__version__} interpreter {load_backend()[0]}"
      f" ed25519 verify {ed25519.backend()} {crypto}")'

    local tests=("${EDGE_TESTS[@]}") known=() deselect=""
    local note=""
    if [ "$QUICK" = 1 ]; then tests=("${QUICK_TESTS[@]}"); note=" of ${#EDGE_TESTS[@]}: --quick"; fi
    say "$arch: edge tests (${#tests[@]} files$note)"
    t0=$SECONDS
    [ "$arch" = arm64 ] && [ "$QUICK" = 0 ] && known=("${KNOWN_ARM64[@]}")
    for k in "${known[@]}" "${TOO_SLOW_EMULATED[@]}"; do deselect="$deselect --deselect $k"; done
    [ "$QUICK" = 1 ] || say "$arch: not run, too slow under qemu for their fixed deadlines: ${TOO_SLOW_EMULATED[*]}"
    if in_root "$root" sh -c "cd /src && /opt/venv/bin/pytest -q -p no:cacheprovider --durations=5 $deselect ${tests[*]}" \
        >"$CACHE/$arch/tests.log" 2>&1; then
        say "$arch: PASS tests ($(tail -1 "$CACHE/$arch/tests.log"); $((SECONDS - t0)) s)"
    else
        grep -E '^(FAILED|ERROR)' "$CACHE/$arch/tests.log" | head -20
        tail -3 "$CACHE/$arch/tests.log"
        say "$arch: FAIL tests (log: $CACHE/$arch/tests.log)"; rc=1
    fi
    if [ ${#known[@]} -gt 0 ]; then  # still failing? say so; passing: time to delete the entry
        if in_root "$root" sh -c "cd /src && /opt/venv/bin/pytest -q -p no:cacheprovider ${known[*]}" \
            >"$CACHE/$arch/known.log" 2>&1; then
            say "$arch: KNOWN issue now passes, delete it from KNOWN_${arch^^}: ${known[*]}"
        else
            say "$arch: KNOWN (not counted): ${known[*]} still fails on $arch (see the note in deploy/arm/verify.sh)"
        fi
    fi

    say "$arch: transform $CLIP with $BUNDLE, parity against x86"
    rm -f "$root/tmp/transform.csv"
    if in_root "$root" /opt/venv/bin/edge-runtime transform --bundle "$BUNDLE" --input "/src/$CLIP" \
            --output /tmp/transform.csv --quiet 2>&1 | sed "s/^/  $arch: /" \
        && (cd "$REPO" && PYTHONPATH=$REPO python3 deploy/arm/parity.py --bundle "$BUNDLE" \
                --max-decided-differently "$([ "$arch" = arm64 ] && echo "$KNOWN_DECIDED_DIFFERENTLY_ARM64" || echo 0)" \
                "$CACHE/$arch/x86-transform.csv" "$root/tmp/transform.csv" --label "$arch" 2>&1 | grep -v '^INFO'); then
        say "$arch: PASS parity"
    else
        say "$arch: FAIL parity"; rc=1
    fi

    say "$arch: inspect $BUNDLE"
    if in_root "$root" /opt/venv/bin/edge-runtime inspect "$BUNDLE" >"$CACHE/$arch/inspect.txt" 2>&1; then
        head -3 "$CACHE/$arch/inspect.txt" | sed 's/^/  /'
        say "$arch: PASS inspect"
    else
        cat "$CACHE/$arch/inspect.txt"; say "$arch: FAIL inspect"; rc=1
    fi

    if [ "$QUICK" = 1 ]; then
        say "$arch: SKIP benchmark under --quick (deploy/arm/verify.sh without --quick runs it)"
        unmount_all
        return $rc
    fi
    say "$arch: benchmark --quick (emulated: timings are not the board's)"
    if in_root "$root" /opt/venv/bin/edge-runtime benchmark --quick --bundle "$BUNDLE" --no-tensorflow \
            --json /tmp/benchmark.json --markdown /tmp/benchmark.md 2>"$CACHE/$arch/benchmark.err"; then
        cp "$root/tmp/benchmark.md" "$CACHE/$arch/benchmark.md"
        cp "$root/tmp/benchmark.json" "$CACHE/$arch/benchmark.json"
        grep -i -E '^\*\*Emulated|^Model cost|^\| motionsense' "$CACHE/$arch/benchmark.md" | cut -c1-240 | sed 's/^/  /' || true
        say "$arch: PASS benchmark (report: $CACHE/$arch/benchmark.md)"
    else
        tail -15 "$CACHE/$arch/benchmark.err"; say "$arch: FAIL benchmark"; rc=1
    fi
    unmount_all
    return $rc
}

# -------------------------------------------------------------------------------------------- main
main() {  # one function, read whole before it runs: editing this file meanwhile cannot derail a run
    if [ "$CACHED_ONLY" = 1 ]; then  # say so before installing anything
        cached=()
        for arch in "${ARCHES[@]}"; do
            if [ -e "$CACHE/$arch/root.ok" ] && [ -e "$CACHE/$arch/venv.ok" ]; then cached+=("$arch")
            else say "$arch: SKIP: no cached root in $CACHE/$arch (--cached-only; build it once with deploy/arm/verify.sh --arch $arch: about 15-25 min on two cores)"; fi
        done
        [ ${#cached[@]} -gt 0 ] || return 0
        ARCHES=("${cached[@]}")
    fi
    host_setup
    mkdir -p "$CACHE"
    START=$SECONDS
    status=0
    for arch in "${ARCHES[@]}"; do
        t_arch=$SECONDS
        mkdir -p "$CACHE/$arch"
        exec 9>"$CACHE/$arch/.lock"
        flock -n 9 || die "another verify.sh is working on $CACHE/$arch"
        if [ ! -e /proc/sys/fs/binfmt_misc/"$(qemu_for "$arch")" ]; then
            say "$arch: SKIP: binfmt_misc has no $(qemu_for "$arch") handler"; continue
        fi
        build_root "$arch"
        build_venv "$arch"
        if [ "$BUILD_ONLY" = 1 ]; then say "$arch: root and venv ready ($((SECONDS - t_arch)) s)"; continue; fi
        x86_reference "$arch"
        if check_arch "$arch"; then say "$arch: all checks passed ($((SECONDS - t_arch)) s)"
        else say "$arch: checks FAILED ($((SECONDS - t_arch)) s)"; status=1; fi
    done
    say "done in $((SECONDS - START)) s"
    return $status
}

main "$@"; exit $?  # on one line: bash has read it all before the run starts
