{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "5Ia9Xnv5r9VAYEzNyBK0o3CG8099JCSd7uTwi6rM04HaZTsrj4T+PdDjeEhILAkpnCwM0H22F7kxsxkVHKGOCw=="
}
