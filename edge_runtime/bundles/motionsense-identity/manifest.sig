{
  "algorithm": "ed25519",
  "key_id": "e0b2ba212da72eee",
  "signature": "lm0NoTfHkKqwoJDZthxDF18MU42E2N5XLM2EH7jM6OYsIjY4crvhS7Nvs9FcaSx1isMHzx7V1u/k7R2ip46fDg=="
}
