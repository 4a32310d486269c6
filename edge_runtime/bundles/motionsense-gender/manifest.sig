{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "0unBbS3NgejeimBiaRcECv1FkP4XDxoNr/8rzAMF2qnpcpbxQhntPE5D8HBM4EqAH5mhgztXvLyW4tMn4CuCAw=="
}
