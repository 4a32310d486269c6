"""``edge-runtime keygen --out KEY``: a new Ed25519 signing key for bundles.

Writes the private key to ``KEY`` (PEM, mode 0600; keep it off the device and out of any
repository) and its public key next to it as ``KEY`` with the suffix ``.pub``: give that file to
the gateways that should trust bundles you sign (``--trust``, the keys folder, ``trust.keys``).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, metavar="KEY",
                        help="private key file to create (its public key goes to KEY with suffix .pub)")


def run(args: argparse.Namespace) -> int:
    from edge_runtime.errors import UserError
    from edge_runtime.signing import PUBLIC_SUFFIX, generate_key, key_id, write_private_key, write_public_key

    private = args.out.expanduser()
    public = private.with_suffix(PUBLIC_SUFFIX)
    if public == private:
        raise UserError(f"{private}: name the private key without the {PUBLIC_SUFFIX} suffix (e.g. signing.key)")
    for p in (private, public):
        if p.exists():
            raise UserError(f"{p}: already exists; refusing to overwrite a key (move it away first)")
    key = generate_key()
    write_private_key(key, private)
    write_public_key(key.public_key(), public)
    print(f"key id {key_id(key.public_key())}\nprivate {private} (mode 0600: keep it secret, off devices)\n"
          f"public  {public} (give this to the gateways that should trust your bundles)")
    return 0
