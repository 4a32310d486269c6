{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "NW719Ogo1J7Iw6VpAmBHLXnENL5+U77thmISXIhQwtU0Yvsd0S6GJx3cVKXPR7+J2L/5pLSxBZMGRa7B2HD/Ag=="
}
