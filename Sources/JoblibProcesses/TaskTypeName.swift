import JoblibParallel
import Synchronization

/// Task types travel by their mangled name, which the worker (the same executable) resolves.
///
/// Private, `fileprivate` and function-local types have names that embed a per-process address,
/// so no other process can resolve them; they are rejected in the parent, before anything runs.
package enum TaskTypeName {
    private static let resolved = Mutex<[String: any ParallelTask.Type]>([:])

    /// The name to send for `type`, after checking that it resolves back to `type`.
    package static func name<Task: ParallelTask>(of type: Task.Type) throws -> String {
        guard let name = _mangledTypeName(type), _typeByName(name) == type else {
            throw ParallelError(
                .unsupportedTask,
                "the task type \(String(reflecting: type)) cannot be found by name in a worker process: "
                    + "declare it at file scope or inside a type, and not private, fileprivate or inside a function")
        }
        return name
    }

    /// The task type for a received name; cached, because resolving costs microseconds.
    package static func resolve(_ name: String) -> (any ParallelTask.Type)? {
        if let type = resolved.withLock({ $0[name] }) { return type }
        guard let type = _typeByName(name) as? any ParallelTask.Type else { return nil }
        resolved.withLock { $0[name] = type }
        return type
    }
}
