{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "xPQQGu0TDjQQq/ZCIWbAc+HHV9aIVWDHLn4q2CLBe8xk3vKAdELuP9PmrWrusTjSxwYrIMKWXRi9J9HkZHnFBw=="
}
