//! LMDB persistence (heed). (Owned by the store work.)
