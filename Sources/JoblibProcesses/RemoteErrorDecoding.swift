import JoblibCoding
import JoblibParallel

/// Decodes an error sent by a worker back into the error to throw in the parent.
package func decodeRemoteError(_ message: ErrorMessage, taskIndex: Int) -> any Error {
    if let name = message.codableTypeName, let payload = message.codablePayload,
       let type = _typeByName(name) as? any (Error & Decodable).Type,
       let error = try? decodeOpened(type, payload)
    {
        return error
    }
    return RemoteTaskError(
        taskIndex: taskIndex, stage: message.stage, typeName: message.typeName, errorDescription: message.description)
}

private func decodeOpened<E: Error & Decodable>(_ type: E.Type, _ payload: [UInt8]) throws -> any Error {
    try BinaryDecoder().decode(E.self, from: payload)
}
