{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "5959DTp5643hg1O9C/od+Rw9hpnO0WCg+4085wOkBqR2jPj9bB5zOlvojKYnP8Kc1qsKieVJIN2kB1i7abIbCA=="
}
