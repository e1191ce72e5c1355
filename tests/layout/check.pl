#!/usr/bin/perl
# tests/layout/check.pl [NOVA_FCGI_BINARY]: the layout rules of the production code, as a suite
# (prints "N passed, N failed"). Production code is common/, fcgi-app/, workers/ and tools/.
#
#   no_include_cycles     a .c file never reaches its own header back through the headers it
#                         includes, and no two modules (a .c file and its .h) include each
#                         other's headers, directly or around a longer circle
#   file_sizes            no production .c file is over 700 lines
#   one_monotonic_clock   CLOCK_MONOTONIC is named in at most two production files
#   names_in_the_contract no production file outside common/redis/contract.c and
#                         common/core/config.c compares a string with a queue, model or
#                         backend name
#   fcgi_links_no_aws     nova-fcgi has no SigV4, credential, Bedrock or event-stream symbol
#
# Perl, not Python: perl-base is part of every Debian system.
use strict;
use warnings;
use File::Find;
use File::Basename;

my ($pass, $fail) = (0, 0);
sub check {
    my ($name, @problems) = @_;
    if (@problems) {
        $fail++;
        print "FAIL $name\n";
        print "  $_\n" for @problems;
    } else {
        $pass++;
        print "ok   $name\n";
    }
}

my @files;
find(sub { push @files, $File::Find::name if /\.[ch]$/ }, qw(common fcgi-app workers tools));
@files = sort @files;
my %is_file = map { $_ => 1 } @files;

# The header a quoted include names, as the compiler finds it: next to the file, then -Icommon.
sub resolve {
    my ($from, $inc) = @_;
    my $here = dirname($from) . "/$inc";
    $here =~ s{^\./}{};
    return $here if $is_file{$here};
    return "common/$inc" if $is_file{"common/$inc"};
    return undef;
}

my %includes;
for my $f (@files) {
    open(my $fh, '<', $f) or die "$f: $!";
    while (<$fh>) {
        next unless /^\s*#\s*include\s+"([^"]+)"/;
        my $h = resolve($f, $1);
        push @{$includes{$f}}, $h if defined $h;
    }
    close $fh;
}

sub closure {
    my ($start) = @_;
    my %seen;
    my @todo = ($start);
    while (@todo) {
        my $x = shift @todo;
        next if $seen{$x}++;
        push @todo, @{$includes{$x} || []};
    }
    delete $seen{$start};
    return \%seen;
}

my @cycles;
# A .c file's own header, reached again through another header it includes.
for my $c (grep { /\.c$/ } @files) {
    (my $own = $c) =~ s/\.c$/.h/;
    next unless $is_file{$own};
    for my $h (@{$includes{$c} || []}) {
        next if $h eq $own;
        push @cycles, "$c reaches $own again through $h" if closure($h)->{$own};
    }
}
# Modules (x.c with x.h) whose includes go round in a circle: strongly connected components.
my %edges;
sub module { my $m = shift; $m =~ s/\.[ch]$//; return $m }
for my $f (@files) {
    for my $h (@{$includes{$f} || []}) {
        my ($a, $b) = (module($f), module($h));
        $edges{$a}{$b} = 1 if $a ne $b;
    }
}
my (%index, %low, %on, @stack, $counter);
$counter = 0;
sub strong {
    my $v = shift;
    $index{$v} = $low{$v} = $counter++;
    push @stack, $v;
    $on{$v} = 1;
    for my $w (sort keys %{$edges{$v} || {}}) {
        if (!exists $index{$w}) {
            strong($w);
            $low{$v} = $low{$w} if $low{$w} < $low{$v};
        } elsif ($on{$w}) {
            $low{$v} = $index{$w} if $index{$w} < $low{$v};
        }
    }
    if ($low{$v} == $index{$v}) {
        my @scc;
        my $w;
        do { $w = pop @stack; $on{$w} = 0; push @scc, $w } while ($w ne $v);
        push @cycles, "a circle of modules: " . join(' -> ', sort @scc) if @scc > 1;
    }
}
my %all = map { module($_) => 1 } @files;
strong($_) for grep { !exists $index{$_} } sort keys %all;
check('no_include_cycles', @cycles);

my @big;
for my $c (grep { /\.c$/ } @files) {
    open(my $fh, '<', $c) or die;
    my $n = () = <$fh>;
    close $fh;
    push @big, "$c: $n lines" if $n > 700;
}
check('file_sizes', @big);

my @mono;
for my $f (@files) {
    open(my $fh, '<', $f) or die;
    local $/;
    my $text = <$fh>;
    close $fh;
    push @mono, $f if $text =~ /CLOCK_MONOTONIC/;
}
check('one_monotonic_clock', @mono > 2 ? ("CLOCK_MONOTONIC in " . scalar(@mono) . " files: @mono") : ());

my @names;
for my $f (@files) {
    next if $f eq 'common/redis/contract.c' || $f eq 'common/core/config.c';
    open(my $fh, '<', $f) or die;
    while (my $line = <$fh>) {
        push @names, "$f:$.: $line" =~ s/\s+$//r
            if $line =~ /\b(str(n?case)?cmp|memcmp)\s*\([^;]*"(micro|pro|kb|sim|bedrock|local)"/;
    }
    close $fh;
}
check('names_in_the_contract', @names);

my $fcgi = shift @ARGV // 'build/release/bin/nova-fcgi';
if (-x $fcgi) {
    my @aws = grep { / [A-Za-z] (sigv4_|creds_|bedrock_|es_)\w+$/ } split /\n/, `nm $fcgi`;
    check('fcgi_links_no_aws', map { "nova-fcgi has $_" } @aws);
} else {
    check('fcgi_links_no_aws', "$fcgi is not built");
}

print "$pass passed, $fail failed\n";
exit($fail ? 1 : 0);
