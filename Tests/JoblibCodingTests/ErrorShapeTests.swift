import JoblibCoding
import Testing

/// The shape every library error shares (`JoblibError`, `JoblibErrorCode`): how it prints, and
/// that a cause is printed once.
@Suite struct ErrorShapeTests {
    private struct SampleError: JoblibError {
        struct Code: JoblibErrorCode {
            var rawValue: String
            init(rawValue: String) { self.rawValue = rawValue }
            static let broken = Code(rawValue: "broken")
        }
        var code: Code
        var message: String
        var place: String?
        var underlying: (any Error)?
        var description: String { describe(place, cause: underlying) }
    }

    private struct Cause: Error, CustomStringConvertible {
        var description: String { "disk full" }
    }

    @Test func codesCompareAndPrintByTheirStableName() {
        let code = CodingError.Code(rawValue: "truncated")
        #expect(code == .truncated)
        #expect(code != .invalidTag)
        #expect("\(code)" == "truncated")
        #expect(Set([code, .truncated, .invalidUTF8]).count == 2)
    }

    @Test func descriptionIsTypeCodeMessageThenDetailsThenCause() {
        let error = SampleError(code: .broken, message: "it broke", place: "(at 'x')", underlying: Cause())
        #expect(error.description == "SampleError.broken: it broke (at 'x') [disk full]")
        let bare = SampleError(code: .broken, message: "it broke")
        #expect(bare.description == "SampleError.broken: it broke")
    }

    @Test func aCauseTheMessageAlreadySaysIsNotRepeated() {
        let error = SampleError(code: .broken, message: "cannot write: disk full", underlying: Cause())
        #expect(error.description == "SampleError.broken: cannot write: disk full")
        #expect(causeSuffix(Cause(), after: "no") == " [disk full]")
        #expect(causeSuffix(nil, after: "no") == "")
    }

    @Test func codingErrorDescriptionNamesPathAndOffset() {
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int?
            init(stringValue: String) { self.stringValue = stringValue }
            init(intValue: Int) { self.stringValue = "\(intValue)"; self.intValue = intValue }
        }
        let error = CodingError(.invalidTag, "byte 0x7f is not a tag", codingPath: [Key(stringValue: "model"), Key(intValue: 2)], offset: 9)
        #expect(error.description == "CodingError.invalidTag: byte 0x7f is not a tag (at model[2]) (byte 9)")
    }
}
