package bom

// Checksum is the CRC that cksum(1) prints (POSIX.2): CRC-32 with
// polynomial 0x04C11DB7, most significant bit first, initial value 0, over
// the data and then over its length (least significant byte first, only as
// many bytes as needed), complemented. The Bom stores it per file
// (bomutils src/crc32.cpp, calc_crc32).
func Checksum(data []byte) uint32 {
	var crc uint32
	for _, b := range data {
		crc = cksumTable[byte(crc>>24)^b] ^ crc<<8
	}
	for n := uint64(len(data)); n > 0; n >>= 8 {
		crc = cksumTable[byte(crc>>24)^byte(n)] ^ crc<<8
	}
	return ^crc
}

var cksumTable = func() (t [256]uint32) {
	const poly = 0x04C11DB7
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ poly
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()
