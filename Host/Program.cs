// Before anything else: the signals Edge acts on must reach it, whatever mask the process that started it had.
Edge.Host.SignalMask.UnblockAtStart();
return await Edge.Host.Cli.EdgeCli.RunAsync(args).ConfigureAwait(false);
