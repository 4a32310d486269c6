{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "y+Cy6yU3HKcmdC4XzV1bPn0/rcgBQWNu3r1dNf8muzuI4DEfTSM/GBI2ZVIEpbrqaUst/3B004/LUrUn1kEMBw=="
}
