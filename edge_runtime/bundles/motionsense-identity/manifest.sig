{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "hhnfMxdFqnUayGrkQ+XhT2k1ZSXm+2zv3nYGJr0amNeMsffm4vfIBV7o77/mQ1HGAAGFwFJgYa57aUYAJq5wCw=="
}
