{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "SWP4sp1MjjcS0wygIgDFJ126etEfzfd5hk+sDn2LrbhSSlpnc5tlvo/cwSB8INe/Yci1zx0gcKYYagH2a1cyBA=="
}
