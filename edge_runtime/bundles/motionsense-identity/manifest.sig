{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "UrYMFPKxm9l7HOC3tmZjxCnTVFKcX+PtZ6sK16M8BK/+/5mb28iaqZEGMVPQnM7BFWC58/tz+cpX+8TQq3waCQ=="
}
