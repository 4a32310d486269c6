{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "EIq9n7sfatm0agOdPKhvGctZRBgGGzukRCgHrrTFdXJF3IJ4ljWqFGWXgbV+kocKvX9q6kABW4Lmyz03WN1oCQ=="
}
