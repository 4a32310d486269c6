{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "gL3Q3cm6sIyu097yJitOXKGWm2iIFhbvD/r+ThfzaGG/OGn4j11HtWofBbiW7b6MWK1FuZVDA37Rn/kCNodiAg=="
}
