using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Edge.Training;

/// <summary>Loads libtorch and sets its process-wide threads and seed; call before any other torch use.</summary>
public static class TorchRuntime
{
    /// <summary>
    /// Loads the native CPU backend, sets intra-op and inter-op threads to <paramref name="threads"/> and seeds
    /// torch's global generator. Threads are set explicitly because libtorch's default OpenMP spin-wait on every
    /// core fights the .NET threads that feed it. Calling it again changes the seed and intra-op threads; the
    /// inter-op pool size is fixed by libtorch once it has been set or used.
    /// </summary>
    /// <exception cref="InvalidOperationException">The native library could not be loaded.</exception>
    public static void Initialize(int threads, long seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        try
        {
            InitializeDeviceType(DeviceType.CPU);
        }
        catch (Exception ex) when (ex is TypeInitializationException or DllNotFoundException or NotSupportedException
                                      or EntryPointNotFoundException or BadImageFormatException)
        {
            // TorchSharp's own text blames a missing package whatever the cause; its probe log stays in InnerException.
            var reason = ex.GetBaseException().Message.Split('\n', 2)[0].Trim();
            throw new InvalidOperationException(
                $"libtorch could not be loaded: {reason} (is the GLIBCXX patch applied? rebuild)", ex);
        }

        set_num_threads(threads);
        if (get_num_interop_threads() != threads)
        {
            try
            {
                set_num_interop_threads(threads);
            }
            catch (ExternalException)
            {
                // libtorch refuses once its inter-op pool has started; the pool it has keeps working.
            }
        }
        manual_seed(seed);
    }
}
