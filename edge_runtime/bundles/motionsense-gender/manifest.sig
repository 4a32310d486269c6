{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "YwyI9UG80Fq3i9kNmapdNK/Wl7Gw9fZTcFzvLZF0GqohckIeZ6X3YfCIJuu4DP8xhB8w37lPDW3Fq4WMvbJ6Aw=="
}
