"""Name server (routing registry): ``mqnamesrv``."""
