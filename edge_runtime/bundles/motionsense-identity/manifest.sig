{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "TLoqlHQbDo/9XG6/pk9Vfi3xG6Q2/xQrsTb9zHL+20Y0ZLUQkMn/TpvnXpaFzb6bJ+k0XDNA8FwIFLVs64i/Cg=="
}
