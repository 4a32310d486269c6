{
  "algorithm": "ed25519",
  "key_id": "c0b698c3429438f4",
  "signature": "Z2CRudQV1VieOwj/4I+eCeyOg2zQNnx3MFwu81COVuqkLGrd5SvJuPrceBn1yCN0AyeCMfH3KhUbkAI9ouJRAg=="
}
