{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "p3nizye2g86MF06OWnzS77BCkj0UWzu0BpJ02pNrDaZG4Cofs0MFDunDBtZyLjJLkQc6AAQNFjBIIzfVusPqAg=="
}
