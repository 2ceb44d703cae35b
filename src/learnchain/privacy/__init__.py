"""Client-side privacy for medical records: encryption, proxy re-encryption, key recovery.

Nothing in this package talks to a node: it turns payloads into ciphertext blobs and back, and
re-encryption key fragments into verified capsule fragments. The wallet app decides *who* may
ask; this package makes sure that only the right keys can read.
"""
