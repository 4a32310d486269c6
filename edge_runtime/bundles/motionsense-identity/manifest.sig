{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "9OGwFngA9negL4uqWKz4jQxD2x6lQRepqcNSL0GGsjREeTeRSfzVzKbnlWEDiftoLmAOgDrrrkEX2YjUmqaoDA=="
}
