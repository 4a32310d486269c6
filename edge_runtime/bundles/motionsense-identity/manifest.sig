{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "tb0/m/z7F9JDTkwmjKt23aG/FvZnB366jZEPRhgJ9m4LVjV9cI2AWWouTX/sBgTUOT9fyxPagzJbqTrFEm4ICg=="
}
