{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "cJbJ2p1I7sJ4z1P9opy59RESd9vEMP1DyZ1jLJd1UFgThO7+GUS5i/lbHu5WoVBWSw213nsJiO6Cqnn6wLgnDA=="
}
