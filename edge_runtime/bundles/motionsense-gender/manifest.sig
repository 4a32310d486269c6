{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "IN5KF+hfAiT2V59v+q8/x5hiUEWxnZXZKGcMZCTieCvFQoCzk1BSiz8C/TvdAf72R9/zGGNSc+m3Onxy/arjAQ=="
}
