package docs

// The generated sections of the Markdown files (between "begin generated"
// and "end generated" markers) are written by Generate.
//go:generate go run ./gen
