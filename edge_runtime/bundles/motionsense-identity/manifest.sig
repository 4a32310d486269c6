{
  "algorithm": "ed25519",
  "key_id": "e0b2ba212da72eee",
  "signature": "JgUaLouv1lJyGbinx/5Tm/R1YfzIFgh1+uNoC55VLJvXW+IPVV6yvYNmHs/eOYm7Uuuf2Vwr+aWLPRf2CbHfBQ=="
}
