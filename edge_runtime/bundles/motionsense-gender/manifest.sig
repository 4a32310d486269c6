{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "iKV7Cjq6mdLIf7qO56IWW/aJdCQGhOzfpklmEXX1w3JsmHMXx7lFen45MhEEL5kYx2Ao2NFDh05KVTY2iUuADg=="
}
