{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "m3ooymRmQKIcUP7XYYPLVmANpkrfU0oMo1YRtFuNFMZ2u7taYVU8LE3NBuRXBG94MWs0ycpcLR6OuckynFIbCA=="
}
