import Testing
@testable import JoblibSystem

@Test func cpuCountIsPositive() { #expect(cpuCount() >= 1) }
