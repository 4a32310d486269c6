{
  "algorithm": "ed25519",
  "key_id": "e0b2ba212da72eee",
  "signature": "6ahGD5El3rOp+N8n4g8WN2XUeWX4Gnc9lPl1/dIo24uRdn3LhB/Nz6hY78s88sWsbq7N5V57DdgIqupD0xNsCQ=="
}
