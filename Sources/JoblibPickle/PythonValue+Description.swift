extension PythonValue: CustomStringConvertible {
    /// A Python-like rendering on one line: `{'coef_': array(float64, shape [3]: [0.5, …]), …}`;
    /// objects as `ClassName(args…, state=…)`. Long renderings are cut with `…`.
    public var description: String {
        var output = ""
        var budget = 100_000
        render(into: &output, budget: &budget)
        return output
    }

    private func render(into output: inout String, budget: inout Int) {
        guard budget > 0 else {
            if !output.hasSuffix("…") { output += "…" }
            return
        }
        budget -= 1
        func list(_ items: [PythonValue], _ open: String, _ close: String) {
            output += open
            for (index, item) in items.enumerated() {
                if index > 0 { output += ", " }
                guard budget > 0 else {
                    output += "…"
                    break
                }
                item.render(into: &output, budget: &budget)
            }
            output += close
        }
        func entries(_ items: [PythonDictEntry]) {
            output += "{"
            for (index, entry) in items.enumerated() {
                if index > 0 { output += ", " }
                guard budget > 0 else {
                    output += "…"
                    break
                }
                entry.key.render(into: &output, budget: &budget)
                output += ": "
                entry.value.render(into: &output, budget: &budget)
            }
            output += "}"
        }
        switch self {
        case .none: output += "None"
        case .bool(let flag): output += flag ? "True" : "False"
        case .int(let number): output += String(number)
        case .bigInt(let number): output += number.description
        case .float(let number): output += number.isNaN ? "nan" : number.isInfinite ? (number < 0 ? "-inf" : "inf") : "\(number)"
        case .complex(let real, let imaginary): output += "(\(real)\(imaginary < 0 || imaginary.sign == .minus ? "-" : "+")\(abs(imaginary))j)"
        case .string(let text): output += "'" + text.replacing("'", with: "\\'") + "'"
        case .bytes(let bytes): output += "b'" + Self.escape(bytes) + "'"
        case .byteArray(let bytes): output += "bytearray(b'" + Self.escape(bytes) + "')"
        case .list(let items): list(items, "[", "]")
        case .tuple(let items): list(items, "(", items.count == 1 ? ",)" : ")")
        case .set(let items): items.isEmpty ? (output += "set()") : list(items, "{", "}")
        case .frozenSet(let items): list(items, "frozenset({", "})")
        case .dict(let items): entries(items)
        case .array(let array):
            let shown = array.count <= 6 ? array.elements : Array(array.normalized().elements.prefix(6))
            output += "array(\(array.dtype), shape \(array.shape): "
            list(shown, "[", array.count > 6 ? ", …]" : "]")
            output += ")"
        case .numpyScalar(let array):
            output += "numpy.\(array.dtype)("
            if let first = array.elements.first { first.render(into: &output, budget: &budget) }
            output += ")"
        case .dtype(let dtype): output += "dtype('\(dtype)')"
        case .global(let module, let name): output += "\(module).\(name)"
        case .object(let object):
            output += object.className + "("
            var parts = 0
            for argument in object.arguments {
                if parts > 0 { output += ", " }
                argument.render(into: &output, budget: &budget)
                parts += 1
            }
            if !object.keywordArguments.isEmpty {
                if parts > 0 { output += ", " }
                output += "kwargs="
                entries(object.keywordArguments)
                parts += 1
            }
            if let state = object.state {
                if parts > 0 { output += ", " }
                output += "state="
                state.render(into: &output, budget: &budget)
                parts += 1
            }
            if !object.listItems.isEmpty {
                if parts > 0 { output += ", " }
                output += "items="
                list(object.listItems, "[", "]")
                parts += 1
            }
            if !object.dictItems.isEmpty {
                if parts > 0 { output += ", " }
                output += "entries="
                entries(object.dictItems)
            }
            output += ")"
        }
    }

    private static func escape(_ bytes: [UInt8]) -> String {
        var text = ""
        for byte in bytes.prefix(200) {
            switch byte {
            case 0x5C: text += "\\\\"
            case 0x27: text += "\\'"
            case 0x20..<0x7F: text.unicodeScalars.append(Unicode.Scalar(byte))
            default: text += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
            }
        }
        return bytes.count > 200 ? text + "…" : text
    }
}
