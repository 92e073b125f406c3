package bounce

// mimeRead returns the bytes the MIME walk of data searched, split and
// decoded.
func mimeRead(data string) int {
	var w walker
	w.extract(data)
	return w.read
}
