{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "YwYSRXFK3Iryk9YnOkW2IFDajkEuxxO25eJhYfa9eBqAVc4FXQ0Bxk/aH9uumCn88f8f1541N18SDRl4dX/SDQ=="
}
