{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "2gZQlGfA3fRRtE+wT86ADsIq8021AFMey1XIXpOWJb+2mZ8+HR3YLaE0lz/sBalGDkNGaIFWXsLKKZ98XftyBQ=="
}
