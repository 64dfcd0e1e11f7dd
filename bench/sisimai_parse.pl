#!/usr/bin/perl
# Sisimai (Debian's libsisimai-perl, 4.25) reads the same messages as `dsnworker parse`, for
# bench/parse_throughput.py: each argument is a Maildir-like folder of message files (or an mbox),
# and each result is printed as one tab-separated line, so both sides read, decide and write per
# recipient. Delivered reports are kept (`delivered => 1`), as dsnworker prints those too.
#
# Usage: perl bench/sisimai_parse.pl FOLDER... > results.tsv
use strict;
use warnings;
use Sisimai;

binmode STDOUT, ':encoding(UTF-8)';
for my $path (@ARGV) {
    my $results = Sisimai->make($path, 'delivered' => 1) or next;
    for my $result (@$results) {
        my @fields = (
            $result->recipient->address, $result->reason,    $result->deliverystatus,
            $result->replycode,          $result->smtpagent, $result->diagnosticcode,
        );
        print join("\t", map { my $v = $_ // ''; $v =~ s/[\t\r\n]+/ /g; $v } @fields), "\n";
    }
}
