import JoblibCoding

/// The dictionary at the start of a `.npy` file, parsed without evaluating anything: only string,
/// boolean and integer-tuple literals are accepted.
struct NpyHeader {
    var descriptor: String
    var fortranOrder: Bool
    var shape: [Int]

    /// The most dimensions accepted (numpy itself allows 64).
    static let maxDimensions = 64

    init(parsing bytes: UnsafeRawBufferPointer) throws(PersistenceError) {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw PersistenceError(.corruptHeader, "the .npy header is not valid text")
        }
        var parser = Parser(characters: Array(text.unicodeScalars))
        var descriptor: String?
        var fortranOrder: Bool?
        var shape: [Int]?
        try parser.expect("{")
        while true {
            parser.skipSpace()
            if parser.take("}") { break }
            let key = try parser.string()
            try parser.expect(":")
            switch key {
            case "descr":
                parser.skipSpace()
                if parser.peek == "[" {
                    throw PersistenceError(.unsupportedFeature, "structured .npy dtypes (record arrays) are not supported")
                }
                descriptor = try parser.string()
            case "fortran_order": fortranOrder = try parser.boolean()
            case "shape": shape = try parser.tuple()
            default: throw PersistenceError(.corruptHeader, "the .npy header has an unknown key '\(key)'")
            }
            parser.skipSpace()
            if !parser.take(",") {
                try parser.expect("}")
                break
            }
        }
        guard let descriptor, let fortranOrder, let shape else {
            throw PersistenceError(.corruptHeader, "the .npy header lacks 'descr', 'fortran_order' or 'shape'")
        }
        self.descriptor = descriptor
        self.fortranOrder = fortranOrder
        self.shape = shape
    }

    /// Checks that the file's dtype is `type` and says whether its bytes must be swapped.
    func needsByteSwap(toRead type: BulkElementType) throws(PersistenceError) -> Bool {
        var scalars = Substring(descriptor)
        var order: Character = "="
        if let first = scalars.first, "<>|=".contains(first) {
            order = first
            scalars = scalars.dropFirst()
        }
        guard let kind = scalars.first else {
            throw PersistenceError(.corruptHeader, "the .npy dtype '\(descriptor)' is malformed")
        }
        guard "biuf".contains(kind) else {
            throw PersistenceError(.unsupportedFeature, "the .npy dtype '\(descriptor)' (objects, strings, complex or dates) is not supported")
        }
        guard let width = Int(scalars.dropFirst()), [1, 2, 4, 8].contains(width) else {
            throw PersistenceError(.corruptHeader, "the .npy dtype '\(descriptor)' is malformed")
        }
        let name: String
        switch kind {
        case "b" where width == 1: name = "bool"
        case "i": name = "int\(width * 8)"
        case "u": name = "uint\(width * 8)"
        case "f": name = "float\(width * 8)"
        default:
            throw PersistenceError(.unsupportedFeature, "the .npy dtype '\(descriptor)' (objects, strings, complex or dates) is not supported")
        }
        let matches = name == type.name || (name == "bool" && (type == .uint8 || type == .int8))
        guard matches else {
            throw PersistenceError(.typeMismatch, "the .npy file holds \(name) ('\(descriptor)'), not \(type)")
        }
        let bigEndianHost = 1.bigEndian == 1
        return width > 1 && ((order == ">" && !bigEndianHost) || (order == "<" && bigEndianHost))
    }

    private struct Parser {
        var characters: [Unicode.Scalar]
        var position = 0

        var peek: Unicode.Scalar? { position < characters.count ? characters[position] : nil }

        mutating func skipSpace() {
            while let c = peek, c == " " || c == "\n" || c == "\t" || c == "\r" { position += 1 }
        }

        mutating func take(_ c: Unicode.Scalar) -> Bool {
            skipSpace()
            guard peek == c else { return false }
            position += 1
            return true
        }

        mutating func expect(_ c: Unicode.Scalar) throws(PersistenceError) {
            guard take(c) else { throw PersistenceError(.corruptHeader, "the .npy header is malformed near character \(position): expected '\(c)'") }
        }

        mutating func string() throws(PersistenceError) -> String {
            skipSpace()
            guard let quote = peek, quote == "'" || quote == "\"" else {
                throw PersistenceError(.corruptHeader, "the .npy header is malformed near character \(position): expected a string")
            }
            position += 1
            var text = ""
            while let c = peek, c != quote {
                text.unicodeScalars.append(c)
                position += 1
                guard text.unicodeScalars.count <= 256 else { throw PersistenceError(.corruptHeader, "a .npy header string is too long") }
            }
            try expect(quote)
            return text
        }

        mutating func word() -> String {
            skipSpace()
            var text = ""
            while let c = peek, c.properties.isAlphabetic || ("0"..."9").contains(c) {
                text.unicodeScalars.append(c)
                position += 1
                if text.unicodeScalars.count > 32 { break }
            }
            return text
        }

        mutating func boolean() throws(PersistenceError) -> Bool {
            switch word() {
            case "True": return true
            case "False": return false
            case let other: throw PersistenceError(.corruptHeader, "the .npy header has '\(other)' where True or False belongs")
            }
        }

        mutating func tuple() throws(PersistenceError) -> [Int] {
            try expect("(")
            var values: [Int] = []
            while true {
                if take(")") { return values }
                var digits = word()
                if digits.hasSuffix("L") { digits.removeLast() }  // Python 2's long literals
                guard let value = Int(digits), value >= 0 else {
                    throw PersistenceError(.corruptHeader, "the .npy shape holds '\(digits)', not a dimension")
                }
                values.append(value)
                guard values.count <= NpyHeader.maxDimensions else {
                    throw PersistenceError(.corruptHeader, "the .npy shape has more than \(NpyHeader.maxDimensions) dimensions")
                }
                if !take(",") {
                    try expect(")")
                    return values
                }
            }
        }
    }
}
