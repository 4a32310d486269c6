{
  "algorithm": "ed25519",
  "key_id": "e0b2ba212da72eee",
  "signature": "h5bN/Cne2/oA4RriHvNu6rbiBNBOt3sN039sbSYuplZSnt2bRtAc/JiOsG2vogaPXPIimZbfKMj0SCanla5lBg=="
}
