using System.Runtime.InteropServices;

namespace Edge.Host.Service;

/// <summary>
/// The native heap of a long-running service. glibc gives threads that contend for malloc arenas of their own, up to
/// eight per core, and each keeps the memory freed into it: capture, CNN and sink threads that allocate frames and
/// tensors of many sizes grow the process's RSS for hours that way, with nothing leaked. Two arenas keep the
/// contention low and the growth bounded.
/// </summary>
internal static class NativeHeap
{
    private const int ArenaMax = -8; // M_ARENA_MAX in malloc.h

    /// <summary>Limits glibc's malloc arenas to <paramref name="arenas"/>; false where the C library is not glibc.</summary>
    public static bool LimitArenas(int arenas = 2)
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is { Length: > 0 })
        {
            return false; // an operator's own setting wins
        }
        try
        {
            return MallOpt(ArenaMax, arenas) == 1;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int MallOpt(int parameter, int value);
}
