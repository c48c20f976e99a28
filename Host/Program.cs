// Before anything else: the signals Edge acts on must reach it, whatever mask the process that started it had.
Edge.Host.SignalMask.UnblockAtStart();
// One error line for a video that cannot be read, not OpenCV's and FFmpeg's own lines before it.
Edge.Capture.DecoderLog.Quiet();
return await Edge.Host.Cli.EdgeCli.RunAsync(args).ConfigureAwait(false);
