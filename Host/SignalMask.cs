using System.Runtime.InteropServices;

namespace Edge.Host;

/// <summary>
/// A process inherits its signal mask from whatever started it, and every thread of the runtime inherits it in
/// turn: started with SIGHUP or SIGTERM blocked (a launcher, a supervisor, a test host's thread that had them blocked),
/// Edge would never see them, and a reload or a graceful stop would be lost without a word. The main thread unblocks
/// the signals Edge acts on before anything else happens, so they always have a thread to arrive on. Ignored signals
/// (nohup) stay ignored: that is the operator's choice, and <c>edge run</c> says what it costs (no reload by SIGHUP).
/// </summary>
internal static class SignalMask
{
    private const int SigUnblock = 1; // SIG_UNBLOCK on Linux
    private const int SigHup = 1, SigInt = 2, SigTerm = 15;
    private const int SetBytes = 128; // sizeof(sigset_t) in glibc

    /// <summary>The signals that were blocked when the process started (by name; empty: none), for the log.</summary>
    public static IReadOnlyList<string> BlockedAtStart { get; private set; } = [];

    /// <summary>Whether SIGHUP was ignored when the process started (started under nohup): a reload by signal cannot reach it.</summary>
    public static bool HangUpIgnoredAtStart { get; private set; }

    /// <summary>
    /// Unblocks SIGHUP, SIGINT and SIGTERM for the calling thread (the main one, first), keeps what was blocked, and
    /// notes whether SIGHUP is ignored.
    /// </summary>
    public static void UnblockAtStart()
    {
        BlockedAtStart = UnblockServiceSignals();
        HangUpIgnoredAtStart = IsIgnored(SigHup);
    }

    /// <summary>Whether <paramref name="signal"/> is ignored by this process (the SigIgn mask of /proc/self/status); false where that cannot be read.</summary>
    private static bool IsIgnored(int signal)
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
            return line is not null
                && ulong.TryParse(line["SigIgn:".Length..].Trim(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture, out var mask)
                && (mask >> (signal - 1) & 1) == 1;
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Unblocks SIGHUP, SIGINT and SIGTERM for the calling thread; the ones that were blocked, by name (empty: none).</summary>
    public static IReadOnlyList<string> UnblockServiceSignals()
    {
        if (!OperatingSystem.IsLinux())
        {
            return [];
        }
        try
        {
            var set = new byte[SetBytes];
            var before = new byte[SetBytes];
            sigemptyset(set);
            foreach (var signal in (ReadOnlySpan<int>)[SigHup, SigInt, SigTerm])
            {
                sigaddset(set, signal);
            }
            if (pthread_sigmask(SigUnblock, set, before) != 0)
            {
                return [];
            }
            var blocked = new List<string>();
            foreach (var (signal, name) in (ReadOnlySpan<(int, string)>)[(SigHup, "SIGHUP"), (SigInt, "SIGINT"), (SigTerm, "SIGTERM")])
            {
                if (sigismember(before, signal) == 1)
                {
                    blocked.Add(name);
                }
            }
            return blocked;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return [];
        }
    }

    [DllImport("libc")]
    private static extern int sigemptyset(byte[] set);

    [DllImport("libc")]
    private static extern int sigaddset(byte[] set, int signal);

    [DllImport("libc")]
    private static extern int sigismember(byte[] set, int signal);

    [DllImport("libc")]
    private static extern int pthread_sigmask(int how, byte[] set, byte[] old);
}
