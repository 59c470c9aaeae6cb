import CJoblibSystem
import SystemPackage

// Descriptors handed from one process to another over a Unix socket (SCM_RIGHTS): the receiver
// gets its own descriptors of the same open files. A descriptor in flight belongs to the socket:
// if the receiver closes its end without taking it, the kernel closes it (nothing leaks).

/// The most descriptors one ``FileDescriptor/sendDescriptors(_:)`` message carries.
package let maximumPassedDescriptors = Int(JOBLIB_MAX_PASSED_DESCRIPTORS)

extension FileDescriptor {
    /// Sends `descriptors` (1 to ``maximumPassedDescriptors``) over this Unix socket as one
    /// message; the caller may close its own copies afterwards. A dead peer is `EPIPE`.
    package func sendDescriptors(_ descriptors: [FileDescriptor]) throws(SystemError) {
        let raw = descriptors.map(\.rawValue)
        _ = try systemCall("sendmsg") { raw.withUnsafeBufferPointer { joblib_send_descriptors(rawValue, $0.baseAddress!, Int32($0.count)) } }
    }

    /// Takes the next message of ``sendDescriptors(_:)`` waiting on this Unix socket, without
    /// blocking: its descriptors (close-on-exec, the caller's to close), or nil when none is
    /// waiting or the peer closed the socket.
    package func receiveDescriptors() throws(SystemError) -> [FileDescriptor]? {
        var raw = [Int32](repeating: -1, count: maximumPassedDescriptors)
        var received: Int32 = 0
        let count = try systemCall("recvmsg", nilOn: [.resourceTemporarilyUnavailable, .wouldBlock]) {
            raw.withUnsafeMutableBufferPointer { joblib_receive_descriptors(rawValue, $0.baseAddress!, Int32($0.count), &received) }
        }
        guard let count, count > 0 else { return nil }
        return raw.prefix(Int(received)).map { FileDescriptor(rawValue: $0) }
    }
}
