{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "W1HWPdrm1kbDJ5YejaTQf1+njiZ6DLaEieuuGzcZEb93UfkeuUMz/XcmFrdvXm+EJY6Rh95qc6IJDGYzd2/sDQ=="
}
