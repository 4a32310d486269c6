{
  "algorithm": "ed25519",
  "key_id": "e0b2ba212da72eee",
  "signature": "sFFC+ktvevTF9ULw6nE7K2L0BNmU7wsv9KXNa5j3nF2j3XWpVI9x92KKQk+XJp8bYp48vLYDSc4lj2wn9ZkGAQ=="
}
