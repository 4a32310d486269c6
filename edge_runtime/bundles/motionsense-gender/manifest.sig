{
  "algorithm": "ed25519",
  "key_id": "e0b2ba212da72eee",
  "signature": "7aIjPfRh1Gj8L/jjpIf+Wjtc5mUdvj9qXs85/HFAvl9r7OPpwdm8u7Ech2M0awYkoP6u6V0Hh5zxzDUATFytBQ=="
}
